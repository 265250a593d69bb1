from scopelab.cli import main

main()
