from darkedge.cli import main

main()
