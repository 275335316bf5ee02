from fanhub.cli import main

main()
