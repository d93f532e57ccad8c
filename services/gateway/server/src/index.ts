// The gateway is a process (src/main.ts); its configuration is exported for tools that start or
// describe it.
export { ConfigError, gatewayEnv, readGatewayConfig, type GatewayConfig } from "./config.ts";
