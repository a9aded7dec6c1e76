"""Runtime: the array backend (NumPy or CuPy), fused element-wise passes (one GPU kernel each),
the training pass's workspace, host transfers, the flat parameter layout, file errors, memory
estimates."""
