// import.meta.env (DEV, PROD) as Vite defines it.
/// <reference types="vite/client" />
