"""The console's pure view code: numbers as people read them, charts and the group graph as SVG."""
