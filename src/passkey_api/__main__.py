from passkey_api.cli import main

main()
