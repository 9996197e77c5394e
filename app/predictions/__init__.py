"""Per-customer predictions: BG/NBD purchase counts and Gamma-Gamma spend, fitted per shop."""
