"""Loss barcodes: topological measures of escapability in loss landscapes.

The library is a handful of small modules, each one idea:
landscape (what is being measured), train (the one optimisation loop), minima, curves, simplex
(triangles), barcode (persistence of the filtered complex) and pipeline (all of them together).
Modules are imported lazily by their users so that command-line jobs start fast.
"""

__version__ = "0.1.0"
