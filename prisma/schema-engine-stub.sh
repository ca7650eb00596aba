#!/bin/sh
echo "This project runs migrations on Prisma's wasm engine: use npm run db:migrate:dev|deploy|status" >&2
exit 1
