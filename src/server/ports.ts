/**
 * The dev server's metrics port: in the pattern of its gRPC (7233) and Web UI (8233) ports. Without
 * it the server picks a random one, which nothing could be told to scrape.
 */
export const DEV_SERVER_METRICS_PORT = 9233;
