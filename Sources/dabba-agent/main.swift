import DabbaAgent

await AgentCommand.main()
