import DabbaCore
import DabbaHubServer

await HubCommand.runMain()
