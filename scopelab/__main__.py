from scopelab.cli import main

main(prog_name="scopelab")  # not "python -m scopelab" in usage messages
