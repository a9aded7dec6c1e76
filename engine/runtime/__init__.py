"""Runtime: the array backend (NumPy or CuPy), the flat parameter layout, file errors, memory estimates."""
