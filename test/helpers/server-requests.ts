/** The dev server's own count of the requests its frontend answered, from its Prometheus endpoint. */

/** Requests of this gRPC operation (e.g. `RecordActivityTaskHeartbeat`) answered so far, over every namespace. */
export async function frontendRequests(metricsUrl: string, operation: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  return text
    .split('\n')
    .filter(
      (line) =>
        line.startsWith('service_requests{') &&
        line.includes(`operation="${operation}"`) &&
        line.includes('service_name="frontend"'),
    )
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}
