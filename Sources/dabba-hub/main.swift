import DabbaCore
import DabbaHub

await HubCommand.runMain()
