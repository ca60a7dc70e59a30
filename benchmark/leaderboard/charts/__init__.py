"""SVG charts of the leaderboard site, drawn in Python at build time.

Each chart module turns plain data into one ``Chart``: the SVG markup, with
every text from a result escaped, and a one-paragraph text alternative.

The charts follow three rules so that they read in print and for every
reader. Text is dark on light. No meaning rests on colour alone: lines also
differ in dash pattern, and suppressed cells are hatched and labelled. The
colours are colour-blind safe: Okabe–Ito for series, viridis for the heatmap.
"""
