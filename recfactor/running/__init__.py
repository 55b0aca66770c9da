"""Running beside other work: worker processes (``workers``) and BLAS thread limits
(``blas``)."""
