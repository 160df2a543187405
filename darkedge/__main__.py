from darkedge.cli import main

if __name__ == "__main__":  # worker processes started by spawn or a fork server import this module again
    main()
