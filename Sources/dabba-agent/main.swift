print("dabba-agent")
