"""Model conversion: importers into ONNX, ONNX preparation, precision and parity checks."""
