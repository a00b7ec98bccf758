/** The dev server's own count of the requests its services answered, from its Prometheus endpoint. */

/** Requests of this gRPC operation (e.g. `RecordActivityTaskHeartbeat`) its frontend answered so far. */
export function frontendRequests(metricsUrl: string, operation: string): Promise<number> {
  return serviceRequests(metricsUrl, operation, 'frontend');
}

/**
 * Requests of this operation one of its services (`frontend`, `history`, `matching`) answered so far, over every
 * namespace: a query reaches matching only when it is handed to a worker on its own (not on a workflow task).
 */
export async function serviceRequests(metricsUrl: string, operation: string, service: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  return text
    .split('\n')
    .filter(
      (line) =>
        line.startsWith('service_requests{') &&
        line.includes(`operation="${operation}"`) &&
        line.includes(`service_name="${service}"`),
    )
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}
