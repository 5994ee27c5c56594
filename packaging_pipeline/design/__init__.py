"""Box designs: parametric dielines, print-ready PDF files and the artwork placed on them."""
