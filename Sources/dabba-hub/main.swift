import DabbaCore
import DabbaHub

print("dabba-hub")
