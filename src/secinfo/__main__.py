from secinfo.cli import main

main()
