import DabbaAgent
import DabbaCore

await AgentCommand.runMain()
