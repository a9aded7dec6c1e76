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

The element-wise passes between a component's products and row sums are fused passes
(runtime/fused.py), called as pass[xp](arrays...): plain NumPy on the CPU, one kernel each on
a GPU. Their outputs are arrays the component makes, (ws or xp).empty(shape, dtype), and
their temporaries scratch arguments, ws and ws.empty(...): None without a workspace.
"""
