"""What one model update gives away: images read back from updates, and a model crafted to leak through a sum.

rows.py (the first-layer row attack on any update, Phong et al. 2017), crafted.py (the crafted model and the
read-back from a sum of many owners' updates, Fowl et al. 2022), quality.py (PSNR on the 0-16 ink scale,
and how many originals came back).
"""
from .quality import Reconstruction, psnr
from .rows import row_attack, lone_neurons
from .crafted import craft_model, read_back
