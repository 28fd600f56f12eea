"""The Hindi edition's one vocabulary: each English term, the Hindi the series uses, the seed tutorial's term.

Notebook 01 shows it as a glossary cell; tests/test_hindi_edition.py checks that every Hindi notebook
uses these words and none of the variants listed as `instead_of` (words that are wrong, or that mix two
vocabularies for one idea). Hindi ML writers keep most technical words in English transliteration; the
series does the same, and glosses the English term in parentheses the first time in each notebook.
"""

# (English, the series' Hindi, the seed tutorial's Hindi or "", variants not to use)
GLOSSARY = [
    ("federated learning", "फ़ेडरेटेड लर्निंग", "फेडरेटेड लर्निंग", ["संघीय अधिगम"]),
    ("model averaging", "मॉडल एवरेजिंग", "मॉडल एवरेजिंग", ["मॉडल औसतन"]),
    ("data owner", "डेटा स्वामी", "डेटा अधिकारी", ["डेटा मालिक"]),
    ("model owner", "मॉडल स्वामी", "मॉडल अधिकारी", ["मॉडल मालिक"]),
    ("worker", "वर्कर", "कार्यकर्ता", ["कर्मचारी"]),
    ("secure worker", "सुरक्षित वर्कर", "सुरक्षित कर्मचारी", []),
    ("trusted worker", "विश्वसनीय वर्कर", "", []),
    ("private data", "निजी डेटा", "", []),
    ("pointer", "पॉइंटर", "", []),
    ("privacy policy", "गोपनीयता नीति", "", []),
    ("strict policy", "सख़्त नीति", "", []),
    ("training", "ट्रेनिंग", "प्रशिक्षण", ["प्रशिक्षण"]),
    ("gradient", "ग्रेडिएंट", "", ["प्रवणता"]),
    ("weight (of a model)", "वेट", "वजन", []),
    ("weights (of an average)", "भार", "", []),
    ("weighted average", "भारित औसत", "", []),
    ("aggregation", "एकत्रीकरण", "एकत्रीकरण", []),
    ("secure aggregation", "सुरक्षित एकत्रीकरण", "", []),
    ("share (of a secret)", "शेयर", "", []),
    ("client fraction", "क्लाइंट अनुपात", "", []),
    ("fixed point", "फ़िक्स्ड-पॉइंट", "", ["स्थिर बिंदु"]),
    ("Dirichlet", "डिरिक्ले", "", ["डिरिशले"]),
    ("IID (independent and identically distributed)", "स्वतंत्र और एक जैसे बँटे (IID)", "",
     ["समान रूप से वितरित"]),
    ("denominator", "भाजक", "", ["हर (denominator)"]),
    ("differential privacy", "विभेदक गोपनीयता", "", []),
    ("round", "राउंड", "", []),
    ("client", "क्लाइंट", "", []),
    ("update", "अपडेट", "", []),
    ("learning rate", "लर्निंग रेट", "", []),
    ("loss", "लॉस", "", []),
    ("accuracy", "सटीकता", "", []),
    ("noise", "शोर", "", []),
    ("threat model", "ख़तरा मॉडल", "", []),
    ("federated averaging (FedAvg)", "फ़ेडरेटेड एवरेजिंग", "", ["संघीय औसतन"]),
    ("average (the result)", "औसत", "औसत", []),
    ("gradient descent", "ग्रेडिएंट डिसेंट", "", ["प्रवणता अवरोहण"]),
    ("local step", "स्थानीय स्टेप", "पुनरावृत्ति", []),
    ("epoch", "एपॉक", "प्रशिक्षण युग", []),
    ("optimizer", "ऑप्टिमाइज़र", "", []),
    ("trained model", "ट्रेन किया हुआ मॉडल", "प्रशिक्षित मॉडल", []),
    ("updated model", "अपडेट किया हुआ मॉडल", "अद्यतन मॉडल", []),
    ("initial weights", "शुरुआती वेट", "", []),
    ("test data set", "टेस्ट डेटासेट", "परीक्षण डेटासेट", []),
    ("scalar metric", "अदिश मीट्रिक", "", []),
    ("move (worker to worker)", "स्थानांतरण", "", []),
    ("stale pointer", "बासी पॉइंटर", "", []),
    ("central training", "केंद्रीय ट्रेनिंग", "", []),
    ("client drift", "क्लाइंट ड्रिफ़्ट", "", []),
    ("hidden unit", "हिडन यूनिट", "", []),
    ("attack", "हमला", "", ["आक्रमण"]),
    ("reconstruction", "पुनर्निर्माण", "", []),
    ("crafted model", "गढ़ा हुआ मॉडल", "", []),
    ("clipping", "क्लिपिंग", "", []),
    ("noise multiplier", "शोर गुणक", "", ["नॉइज़ मल्टीप्लायर"]),
]


def markdown_table() -> str:
    """The glossary as the markdown table notebook 01 shows."""
    rows = ["| English | इस शृंखला में | मूल ट्यूटोरियल में |", "|---|---|---|"]
    rows += [f"| {en} | {hi} | {seed or '—'} |" for en, hi, seed, _ in GLOSSARY]
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
