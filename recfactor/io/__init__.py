"""Reading and writing data: ratings files of every layout and type (``ratings``), the Arrow
path (``columnar``), which column is which (``columns``), each rating's time (``times``), a
file's own lines (``rows``) and large CSV outputs (``csvout``). Empty on purpose: a command
imports the reader it needs, and a light one (``predict`` on a saved model) none."""
