from centralhub.cli.main import main

main()
