from jobgraph.cli import main

main()
