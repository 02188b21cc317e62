import DabbaCore
import DabbaSim

await SimCommand.runMain()
