from recfactor.cli import main

main()
