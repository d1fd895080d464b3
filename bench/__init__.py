"""`make bench`: each benchmark prints its method, its figures and its ratio to a floor measured
in the same run on the same machine (ratios are steadier than absolute numbers)."""
