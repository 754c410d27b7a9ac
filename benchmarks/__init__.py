"""Speed and accuracy benchmarks (not tests); run the scripts directly."""
