import DabbaAgent
import DabbaCore

// Before any thread starts: one malloc arena, a fixed mmap threshold (see the function's documentation).
ResidentMemory.configureHeapForDaemon()
await AgentCommand.runMain()
