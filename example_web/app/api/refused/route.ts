// The answer to an API path holding "." or ".." segments, plain or percent-encoded:
// next.config.ts rewrites every such path here before any route sees it, so that
// `/api/products/../me` can never become a call to the API's `/me`.
import { answer } from "@/lib/upstream";

export const dynamic = "force-dynamic";

function refused() {
  return answer(400, { error: "invalid_path", error_description: "The path holds a '.' or '..' segment." });
}

export { refused as DELETE, refused as GET, refused as PATCH, refused as POST, refused as PUT };
