import DabbaSim

await SimCommand.main()
