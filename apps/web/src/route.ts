import { useEffect, useState } from 'preact/hooks';

/** The page's two places: making a new moment (`/`) and one moment (`/m/{id}`). */
export type Route = { page: 'make' } | { page: 'moment'; id: string };

export function parseRoute(pathname: string): Route {
  const match = /^\/m\/([^/]+)\/?$/.exec(pathname);
  return match ? { page: 'moment', id: decodeURIComponent(match[1]) } : { page: 'make' };
}

export function momentPath(id: string): string {
  return `/m/${encodeURIComponent(id)}`;
}

const listeners = new Set<() => void>();

export function navigate(path: string): void {
  if (path === location.pathname) return;
  history.pushState(null, '', path);
  listeners.forEach((listener) => listener());
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.pathname));
  useEffect(() => {
    const update = () => setRoute(parseRoute(location.pathname));
    listeners.add(update);
    addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      removeEventListener('popstate', update);
    };
  }, []);
  return route;
}
