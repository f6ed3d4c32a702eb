"""Running the command line in-process, as the tests drive it."""

from camlens.cli import main


def run(capsys, *argv):
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err
