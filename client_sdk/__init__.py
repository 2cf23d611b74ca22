"""The Python SDK organisations install: HTTP client, protocol drivers, DP-LoRA trainer."""
