// Any other /api path: a JSON 404, never Next.js's HTML page.
import { answer } from "@/lib/upstream";

export const dynamic = "force-dynamic";

function notFound() {
  return answer(404, { error: "not_found", error_description: "No such route." });
}

export {
  notFound as DELETE,
  notFound as GET,
  notFound as HEAD,
  notFound as OPTIONS,
  notFound as PATCH,
  notFound as POST,
  notFound as PUT,
};
