from recfactor.cli import entry

entry()
