print("dabba-sim")
