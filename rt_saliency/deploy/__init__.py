"""Deployment: ONNX export of the streaming graphs, TensorRT engines and their metadata."""
