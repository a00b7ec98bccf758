/** Registers staged's search attributes in a namespace; on an existing dev-server DB too. */
import type { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { STAGED_SEARCH_ATTRIBUTES } from '../protocol/search-attributes.js';

/** True when every attribute is registered afterwards; false where the server refuses (e.g. Temporal Cloud). */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<boolean> {
  try {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    const missing = STAGED_SEARCH_ATTRIBUTES.filter((key) => !customAttributes?.[key.name]);
    if (!missing.length) return true;
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(
        missing.map((key) => [key.name, proto.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD]),
      ),
    });
    return true;
  } catch {
    return false;
  }
}
