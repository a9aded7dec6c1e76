"""The components: one pure forward/backward pair per layer (embedding to loss).

Each forward also takes ws, the training pass's Workspace (runtime/workspace.py), or None, and
keeps it in its cache, where its backward finds it (the activations, whose cache is an array,
take it as an argument both ways; dropout's backward makes fresh arrays). With a workspace,
every large result is written into one of its buffers:
    y = xp.matmul(x, w, out=ws and ws.empty(shape, dtype))
with None (analysis, evaluation, the GPU) that is out=None, and NumPy makes a fresh array, as
`x @ w` would. Element-wise results are written with NumPy's ufuncs (np.multiply(a, b, out=...)
is a * b), which take CuPy's arrays as well. Either way the same operations run in the same
order on the same layouts, so the numbers are the same to the bit.
"""
