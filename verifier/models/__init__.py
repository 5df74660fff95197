"""Models: the RNN and its tasks, weight files (.pth, JSON, .npz), handcrafted and trained built-ins, training, noisy copies."""
