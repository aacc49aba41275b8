"""The pytest side of iowitness: results directories, requirement markers."""
